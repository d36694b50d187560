"""Commands around the graph: the demo, downloads, sample data, the class archive."""
