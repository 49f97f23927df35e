from core314.redact import redact


def test_secrets_addresses_and_people_are_removed() -> None:
    text = (
        "login failed for ops@example.com from 192.168.1.20 with password=hunter2 "
        "Authorization: Bearer abcdef0123456789 url postgresql://app:s3cret@db:5432/x "
        "key sk-proj-ABCDEFGHIJKLMNOP token c314_0123456789ab_secretpart"
    )
    cleaned = redact(text)
    for secret in ["ops@example.com", "192.168.1.20", "hunter2", "abcdef0123456789", "s3cret", "sk-proj-ABCD",
                   "secretpart"]:  # fmt: skip
        assert secret not in cleaned, secret
    assert "login failed" in cleaned


def test_it_cuts_long_text() -> None:
    assert len(redact("x" * 2000, limit=100)) == 100
