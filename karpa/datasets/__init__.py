"""Public datasets: where they are published, their checksums, and `karpa data fetch`."""
