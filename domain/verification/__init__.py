"""Know your customer and business: enterprises verified on documents by an officer."""
