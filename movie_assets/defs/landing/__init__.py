"""Landing: the CSV files as external assets, and the sensor that observes them."""
