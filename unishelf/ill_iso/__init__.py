"""ISO 10160/10161 Interlibrary Loan: codec, protocol machines and transport."""
