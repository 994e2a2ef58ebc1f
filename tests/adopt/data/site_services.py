"""A write service of the site (as an adopted monolith has them), with the outbox added."""

from django.db import transaction

from servicekit.events.record import outbox_record


@transaction.atomic
def page_retitle(*, page, title):
    page.title = title
    page.save_revision().publish()
    outbox_record(page, action="retitled", fields=["title", "slug"])  # the one added line
    return page
