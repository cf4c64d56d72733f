"""Expected credit loss (IFRS 9-style staging and loss allowance) and the month-end close."""
