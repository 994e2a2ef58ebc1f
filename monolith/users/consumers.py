"""The monolith mirrors the users service's account events once it owns `user` (chapter 08)."""

from contracts.registry import EVENT_TYPES
from contracts.users import UserCreatedV1, UserPasswordChangedV1, UserUpdatedV1
from monolith.users import services
from servicekit.events.inbox.mirror import mirror
from servicekit.events.inbox.registry import EventConsumer

consumer = EventConsumer("monolith.users", event_types=EVENT_TYPES)

consumer.on(UserCreatedV1)(mirror(services.user_apply_created))
consumer.on(UserUpdatedV1)(mirror(services.user_apply_updated))
consumer.on(UserPasswordChangedV1)(mirror(services.user_apply_password_changed))
