"""Record and replay: cassettes in vcrpy's format, redaction, the recorder and replay."""
