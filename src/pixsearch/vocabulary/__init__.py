"""The bottom floor: the words every layer shares (image fields, text folding, hashes, the
operation vocabulary). Modules here import nothing else of pixsearch."""
