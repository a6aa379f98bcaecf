"""Data: the raw files (IDX reader, mirror fetch), splits, and the batching `Dataset`."""
