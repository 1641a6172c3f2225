"""Privacy: the read audit of patient data (adr/0017-read-audit.md): who saw which visits, when."""
