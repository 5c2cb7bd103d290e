"""Getting a catalogue in and out: `pixsearch import` and `pixsearch export` (docs/client.md)."""
