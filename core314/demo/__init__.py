"""The demo service that ships with Core314 (``python -m core314.demo.shop``) and its fault injection."""
