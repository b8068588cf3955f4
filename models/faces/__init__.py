"""Faces in photos: the detector with its five landmarks, and the alignment onto a generator's framing and back."""
