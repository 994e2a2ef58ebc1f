from django.core.management.base import BaseCommand

from monolith.storefront.demo import DEMO_USERS, demo_seed


class Command(BaseCommand):
    help = "Seed the demo data set (users, a few hundred products, some orders); safe to repeat."

    def add_arguments(self, parser):
        parser.add_argument("--products", type=int, default=300)

    def handle(self, *args, products: int, **options):
        report = demo_seed(products=products)
        self.stdout.write(
            f"seeded: {report.users} users, {report.products} products, {report.orders} orders "
            "(existing rows left as they were)"
        )
        for demo in DEMO_USERS:
            role = "staff" if demo.is_staff else "customer"
            self.stdout.write(f"  login {demo.username} / {demo.password} ({role})")
