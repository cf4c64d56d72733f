"""Privacy's primitives, which know nothing of lending: master keys and their providers
(files, environment, PKCS#11), envelope encryption and blind indexes (``vault``), the
store of wrapped data keys (``keystore``), masking strategies and classification.
The use cases built on them (consent, subject requests, retention, ...) live in
``domain/privacy``."""
