"""`manage.py graphql_allowlist [--check]`: regenerate the persisted-query manifest from
`operations/*.graphql`, or (with --check) fail when the committed one is out of date."""

from django.core.management.base import BaseCommand, CommandError

from extracted.catalog.graphql_api import persisted


class Command(BaseCommand):
    help = "Regenerate (or --check) the GraphQL allow-list from the operation files."

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="fail if the file is stale")

    def handle(self, *args, check: bool, **options):
        wanted = persisted.manifest_render(persisted.manifest_build())
        current = persisted.MANIFEST.read_text() if persisted.MANIFEST.exists() else ""
        if check:
            if current != wanted:
                raise CommandError(
                    f"{persisted.MANIFEST.name} is out of date: run manage.py graphql_allowlist"
                )
            self.stdout.write(f"{persisted.MANIFEST.name} is current")
            return
        persisted.MANIFEST.write_text(wanted)
        for digest, document in sorted(persisted.manifest_build().items()):
            self.stdout.write(f"{digest}  {document.split('(')[0].split('{')[0].strip()}")
