"""Moving data and ownership between the monolith and a service: ownership file, handover, backfill."""
