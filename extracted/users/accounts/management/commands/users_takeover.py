"""`python extracted/users/manage.py users_takeover --source $MONOLITH --token $STAFF`: the users
service takes account ownership over from the monolith (migrations_plan/ chapter 08)."""

from django.core.management.base import BaseCommand

from servicekit.migration.handover import Stream, TakeoverCommand


class Command(TakeoverCommand, BaseCommand):
    entity = "user"
    consumer = "users"
    export_path = "/api/v1/users/export/"
    streams = [Stream("users", "user", "id")]
