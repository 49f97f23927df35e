"""The demo service that ships with Core314 (``python -m core314.demo.service``) and its fault injection."""
