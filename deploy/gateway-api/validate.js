// Validates Gateway API documents (JSON lines on stdin) against @kubernetes-models/gateway-api's
// schemas; prints one JSON line per document: {"name": "Kind/name", "errors": [...]}.
const readline = require("node:readline");
const models = {
  "gateway.networking.k8s.io/v1": require("@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1"),
};
const lines = readline.createInterface({ input: process.stdin });
lines.on("line", (line) => {
  if (!line.trim()) return;
  const doc = JSON.parse(line);
  const name = `${doc.kind}/${doc.metadata && doc.metadata.name}`;
  const group = models[doc.apiVersion];
  const Model = group && group[doc.kind];
  if (!Model) {
    console.log(JSON.stringify({ name, errors: [`no schema for ${doc.apiVersion} ${doc.kind}`] }));
    return;
  }
  try {
    new Model(doc).validate();
    console.log(JSON.stringify({ name, errors: [] }));
  } catch (error) {
    console.log(JSON.stringify({ name, errors: [error.message] }));
  }
});
