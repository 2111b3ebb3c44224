"""`sfxero bench` (SPEC §9): each stage measured against the same work done the simplest way."""
