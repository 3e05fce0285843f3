"""Galaxy-merger data: the built-in simulator, loaders for real files, splitting."""
