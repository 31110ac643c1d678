"""Segments: a rule language compiled to one SQL statement, with counts, previews and snapshots.

Public contract for other features:

- ``query.audience_query(conn, workspace_id, segment_ids, *, exclude_segment_ids=(), at=None)``
  returns ``SELECT contact_id`` (no rows fetched) for campaigns and automations to embed;
- ``query.snapshot_members(conn, workspace_id, snapshot_id)`` the same for a frozen snapshot;
- ``query.count / sample / breakdown / explain_membership`` for previews;
- ``service.create_segment / update_segment / delete_segment / take_snapshot`` (the writers);
- ``text.parse_text / to_text`` for the compact text form; ``rules.parse`` validates JSON rules.
"""
