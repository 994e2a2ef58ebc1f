"""factory_boy factories for the monolith's models, in one place."""

from decimal import Decimal

import factory

from monolith.catalog.models import Category, Inventory, Product
from monolith.users.models import User

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password(PASSWORD)


class StaffFactory(UserFactory):
    username = factory.Sequence(lambda n: f"staff{n}")
    is_staff = True


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"cat-{n}")
    name = factory.LazyAttribute(lambda c: c.slug.title())


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product
        skip_postgeneration_save = True

    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Sequence(lambda n: f"Product {n}")
    description = "A product."
    category = factory.SubFactory(CategoryFactory)
    price = Decimal("10.00")
    currency = "EUR"
    inventory = factory.RelatedFactory(
        "tests.monolith.factories.InventoryFactory", factory_related_name="product"
    )


class InventoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Inventory

    on_hand = 10
    reserved = 0
