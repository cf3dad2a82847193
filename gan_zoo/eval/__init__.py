"""Measuring generators: a reference classifier per data set and the metrics built on it."""
