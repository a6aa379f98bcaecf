"""Analysis of results: our ops against PyTorch's, two training runs compared, test statistics."""
