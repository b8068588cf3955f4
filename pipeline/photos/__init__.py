"""People's own photos: `photos` (a Ray Data job over many) and `edit-photo` (one photo, one call)."""
