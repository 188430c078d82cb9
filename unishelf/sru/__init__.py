"""SRU 1.1, 1.2 and 2.0 with CQL over HTTP: the same backend as Z39.50."""
