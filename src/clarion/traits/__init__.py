"""Per-contact traits: computed scores and model outputs that segments can filter on."""
