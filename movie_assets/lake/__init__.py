"""The engine seam: how tables are committed, whichever engine (Spark or delta-rs) writes them."""
