"""HTTP-side plumbing every service shares: settings from the environment, errors, logs, files."""
