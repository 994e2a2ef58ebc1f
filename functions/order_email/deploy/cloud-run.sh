#!/bin/sh
# Deploy the order email as a Cloud Run function (2nd gen) on the order-events Pub/Sub topic.
# Needs: gcloud logged in, the project set, the two secrets in Secret Manager, a VPC connector
# that reaches the PostgreSQL server. tests/functions/test_deploy_files.py checks this file.
set -eu
REGION="${REGION:-europe-west1}"
# Who emails order events (the notifications service reads the same two settings): deploy in
# standby (service), then move with a time ahead, e.g.
# NOTIFICATIONS_ORDER_EMAIL=function NOTIFICATIONS_ORDER_EMAIL_SINCE=2026-12-02T18:30:00+00:00
SENDER="${NOTIFICATIONS_ORDER_EMAIL:-service}"
SINCE="${NOTIFICATIONS_ORDER_EMAIL_SINCE:-}"

python -m functions.order_email.bundle build/order_email

gcloud functions deploy order-email \
  --gen2 \
  --region="$REGION" \
  --runtime=python311 \
  --source=build/order_email \
  --entry-point=order_email \
  --trigger-topic=order-events \
  --retry \
  --memory=256Mi \
  --timeout=60s \
  --max-instances=10 \
  --concurrency=1 \
  --vpc-connector=shop-connector \
  --set-env-vars="DEFAULT_FROM_EMAIL=shop@strangler.local,NOTIFICATIONS_ORDER_EMAIL=$SENDER,NOTIFICATIONS_ORDER_EMAIL_SINCE=$SINCE" \
  --set-secrets=ORDER_EMAIL_DATABASE_URL=order-email-database-url:latest,ORDER_EMAIL_SMTP_URL=order-email-smtp-url:latest

# A poison event must not be retried for the 7 days --retry allows: after 5 deliveries Pub/Sub
# moves it to a dead-letter topic (kept for a look and a replay).
SUBSCRIPTION="$(gcloud eventarc triggers describe order-email --location="$REGION" \
  --format='value(transport.pubsub.subscription)')"
gcloud pubsub topics create order-events-dead-letter 2>/dev/null || true
gcloud pubsub subscriptions update "$SUBSCRIPTION" \
  --dead-letter-topic=order-events-dead-letter \
  --max-delivery-attempts=5 \
  --min-retry-delay=10s \
  --max-retry-delay=600s
