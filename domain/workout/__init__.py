"""Loans in difficulty: workout cases (restructuring, collection, legal action, sale,
write-off) with owners, deadlines and outcomes, and recoveries after write-off."""
