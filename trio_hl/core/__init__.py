"""Exchange-agnostic connector core: types, tracker, journal, book, events.  No venue names, no I/O
except the journal."""
