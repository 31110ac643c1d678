"""Automations: event-, date- and segment-triggered journeys (wait, branch, send, exit).

A journey is a versioned definition (:mod:`clarion.automations.models`); a contact's passage
through it is a *run*, a row with the step it is at and when it is next due. The worker's
periodic job (:mod:`clarion.automations.jobs`) enrols contacts and advances due runs.
"""
