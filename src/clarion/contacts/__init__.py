"""Contacts: profiles, identities, tags, import with cleaning, merge."""
