"""`python manage.py users_takeover --source $USERS --token $STAFF`: the monolith takes account
ownership back from the users service (the rollback of migrations_plan/ chapter 08)."""

from django.core.management.base import BaseCommand

from servicekit.migration.handover import Stream, TakeoverCommand


class Command(TakeoverCommand, BaseCommand):
    entity = "user"
    consumer = "monolith.users"
    export_path = "/api/v1/users/export/"
    streams = [Stream("users", "user", "id")]
