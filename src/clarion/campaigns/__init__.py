"""Campaigns: model and state machine, planner (audience -> outbox), variants and holdout."""
