"""Classification of data, and (with the privacy issue) encryption, masking and consent."""
