"""Privacy's use cases over the lending domain: consent, purposes and lawful
bases, masking policies, break-glass access, subject preferences and requests,
retention and re-keying. They build on the primitives in ``privacy/`` (keys, the
vault, the keystore, masking strategies, classification)."""
