"""Record and replay: cassettes of real platform traffic, with the secrets redacted before they are written."""
