"""Ray Data transforms: a function or a callable class over a dict[str, np.ndarray] batch; no file I/O, no Ray resources."""
