"""The task contract and the plumbing every task shares."""
