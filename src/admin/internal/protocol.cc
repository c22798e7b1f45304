#include "admin/internal/protocol.h"

#include <string>
#include <utility>
#include <vector>

#include "admin/internal/json_reader.h"

namespace astis::admin::internal {
namespace {

constexpr std::string_view kOps[] = {
    "org.add",         "org.list",      "org.remove",      "org.key.list",    "cluster.add",
    "cluster.list",    "cluster.remove", "workload.add",   "workload.list",   "workload.remove",
    "workload.images", "apply",          "apikey.create",  "apikey.list",     "apikey.revoke",
    "session.list",    "session.revoke",
};

// ---------------------------------------------------------------- JSON forms

Json ClusterRowJson(const ClusterRow& c) {
  return Json{{"name", c.name}, {"mode", c.mode}, {"issuer", c.issuer}, {"audience", c.audience},
              {"api_url", c.api_url}};
}

Result<ClusterRow> ClusterRowFrom(const Json& j) {
  ClusterRow c;
  ASTIS_RETURN_IF_ERROR(JsonReader(j, "cluster")
                            .Str("name", c.name)
                            .Str("mode", c.mode)
                            .Str("issuer", c.issuer)
                            .Str("audience", c.audience)
                            .Str("api_url", c.api_url)
                            .Done());
  return c;
}

Json WorkloadJson(const store::Workload& w) {
  return Json{{"cluster", w.cluster}, {"namespace", w.namespace_}, {"service_account", w.service_account},
              {"images", w.image_digests}};
}

Result<store::Workload> WorkloadFrom(const Json& j) {
  store::Workload w;
  ASTIS_RETURN_IF_ERROR(JsonReader(j, "workload")
                            .Str("cluster", w.cluster)
                            .Str("namespace", w.namespace_)
                            .Str("service_account", w.service_account)
                            .Strs("images", w.image_digests)
                            .Done());
  return w;
}

Json WorkloadKeyJson(const WorkloadKey& k) {
  return Json{{"cluster", k.cluster}, {"namespace", k.namespace_}, {"service_account", k.service_account}};
}

Result<WorkloadKey> WorkloadKeyFrom(const Json& j) {
  WorkloadKey k;
  ASTIS_RETURN_IF_ERROR(JsonReader(j, "args")
                            .Str("cluster", k.cluster)
                            .Str("namespace", k.namespace_)
                            .Str("service_account", k.service_account)
                            .Done());
  return k;
}

Json ApiKeyRowJson(const ApiKeyRow& k) {
  return Json{{"id", k.id},
              {"cluster", k.cluster},
              {"namespace", k.namespace_},
              {"service_account", k.service_account},
              {"created_at", k.created_at},
              {"expires_at", k.expires_at},
              {"revoked_at", k.revoked_at}};
}

Result<ApiKeyRow> ApiKeyRowFrom(const Json& j) {
  ApiKeyRow k;
  ASTIS_RETURN_IF_ERROR(JsonReader(j, "apikey")
                            .Str("id", k.id)
                            .Str("cluster", k.cluster)
                            .Str("namespace", k.namespace_)
                            .Str("service_account", k.service_account)
                            .Int("created_at", k.created_at)
                            .Int("expires_at", k.expires_at)
                            .Int("revoked_at", k.revoked_at)
                            .Done());
  return k;
}

Json SessionRowJson(const SessionRow& s) {
  return Json{{"id", s.id},
              {"cluster", s.cluster},
              {"namespace", s.namespace_},
              {"service_account", s.service_account},
              {"pod_name", s.pod_name},
              {"pod_uid", s.pod_uid},
              {"expires_at", s.expires_at},
              {"state", s.state}};
}

Result<SessionRow> SessionRowFrom(const Json& j) {
  SessionRow s;
  ASTIS_RETURN_IF_ERROR(JsonReader(j, "session")
                            .Str("id", s.id)
                            .Str("cluster", s.cluster)
                            .Str("namespace", s.namespace_)
                            .Str("service_account", s.service_account)
                            .Str("pod_name", s.pod_name)
                            .Str("pod_uid", s.pod_uid)
                            .Int("expires_at", s.expires_at)
                            .Str("state", s.state)
                            .Done());
  return s;
}

Json OrgRowJson(const OrgRow& o) { return Json{{"name", o.name}, {"tier", o.tier}, {"cvs_url", o.cvs_url}}; }

Result<OrgRow> OrgRowFrom(const Json& j) {
  OrgRow o;
  ASTIS_RETURN_IF_ERROR(JsonReader(j, "org").Str("name", o.name).Str("tier", o.tier).Str("cvs_url", o.cvs_url).Done());
  return o;
}

// An org key row carries public facts only: no JWK, no private member.
Json OrgKeyRowJson(const OrgKeyRow& k) {
  return Json{{"kid", k.kid}, {"state", k.state}, {"suite", k.suite}, {"in_token", k.in_token}};
}

Result<OrgKeyRow> OrgKeyRowFrom(const Json& j) {
  OrgKeyRow k;
  ASTIS_RETURN_IF_ERROR(JsonReader(j, "org key")
                            .Str("kid", k.kid)
                            .Str("state", k.state)
                            .Str("suite", k.suite)
                            .Bool("in_token", k.in_token)
                            .Done());
  return k;
}

// "replace" is sent only when set, so a request without it reads as it did
// before the flag existed: an edge that does not know it refuses the
// member rather than ignoring it.
Json ClusterArgsJson(const ClusterAddArgs& a) {
  Json j{{"name", a.name},         {"issuer", a.issuer},   {"audience", a.audience},
         {"jwks_json", a.jwks_json}, {"api_url", a.api_url}, {"ca_file", a.ca_file},
         {"token_file", a.token_file}, {"mode", a.mode}};
  if (a.replace) j["replace"] = true;
  return j;
}

Result<ClusterAddArgs> ClusterArgsFrom(const Json& j) {
  ClusterAddArgs a;
  ASTIS_RETURN_IF_ERROR(JsonReader(j, "args")
                            .Str("name", a.name)
                            .Str("issuer", a.issuer)
                            .Str("audience", a.audience)
                            .Str("jwks_json", a.jwks_json)
                            .Str("api_url", a.api_url)
                            .Str("ca_file", a.ca_file)
                            .Str("token_file", a.token_file)
                            .Str("mode", a.mode)
                            .Bool("replace", a.replace, false)
                            .Done());
  return a;
}

Json ApplyChangeJson(const ApplyChange& c) {
  return Json{{"kind", c.kind}, {"name", c.name}, {"action", c.action}};
}

Result<ApplyChange> ApplyChangeFrom(const Json& j) {
  ApplyChange c;
  ASTIS_RETURN_IF_ERROR(
      JsonReader(j, "change").Str("kind", c.kind).Str("name", c.name).Str("action", c.action).Done());
  return c;
}

template <typename T>
Json ListJson(const std::vector<T>& items, Json (*encode)(const T&)) {
  Json out = Json::array();
  for (const auto& item : items) out.push_back(encode(item));
  return Json{{"items", std::move(out)}};
}

template <typename T>
Result<std::vector<T>> ListFrom(const Json& j, Result<T> (*decode)(const Json&)) {
  const Json* items = nullptr;
  ASTIS_RETURN_IF_ERROR(JsonReader(j, "result").Array("items", items).Done());
  std::vector<T> out;
  out.reserve(items->size());
  for (const auto& item : *items) {
    ASTIS_ASSIGN_OR_RETURN(T value, decode(item));
    out.push_back(std::move(value));
  }
  return out;
}

Status NoArgs(const Json& args) { return JsonReader(args, "args").Done(); }

// ---------------------------------------------------------------- client side

// Malformed wraps a decode failure of a server response: the client cannot
// trust a partly understood answer.
Status Malformed(const Status& s) { return Error(Code::kInternal, "malformed admin response: " + s.message()); }

class RemoteOperations final : public Operations {
 public:
  explicit RemoteOperations(Transport transport) : transport_(std::move(transport)) {}

  Result<OrgAdded> OrgAdd(const OrgAddArgs& a) override {
    ASTIS_ASSIGN_OR_RETURN(Json r, transport_("org.add", Json{{"name", a.name},
                                                              {"tier", a.tier},
                                                              {"cvs_url", a.cvs_url},
                                                              {"cvs_ca_pem", a.cvs_ca_pem},
                                                              {"cvs_identity", a.cvs_identity},
                                                              {"cvs_spki_sha256", a.cvs_spki_sha256}}));
    OrgAdded out;
    const Json* org = nullptr;
    if (Status s = JsonReader(r, "result").Object("org", org).Bool("updated", out.updated).Done(); !s.ok()) {
      return Malformed(s);
    }
    auto row = OrgRowFrom(*org);
    if (!row.ok()) return Malformed(row.status());
    out.org = std::move(*row);
    return out;
  }

  Result<std::vector<OrgRow>> OrgList() override {
    ASTIS_ASSIGN_OR_RETURN(Json r, transport_("org.list", Json::object()));
    auto rows = ListFrom<OrgRow>(r, OrgRowFrom);
    if (!rows.ok()) return Malformed(rows.status());
    return rows;
  }

  Status OrgRemove(const std::string& name, bool force) override {
    return Unit(transport_("org.remove", Json{{"name", name}, {"force", force}}));
  }

  Result<std::vector<OrgKeyRow>> OrgKeyList() override {
    ASTIS_ASSIGN_OR_RETURN(Json r, transport_("org.key.list", Json::object()));
    auto rows = ListFrom<OrgKeyRow>(r, OrgKeyRowFrom);
    if (!rows.ok()) return Malformed(rows.status());
    return rows;
  }

  Result<ClusterAdded> ClusterAdd(const ClusterAddArgs& a) override {
    ASTIS_ASSIGN_OR_RETURN(Json r, transport_("cluster.add", ClusterArgsJson(a)));
    ClusterAdded out;
    if (Status s = JsonReader(r, "result").Str("name", out.name).Str("mode", out.mode).Done(); !s.ok()) {
      return Malformed(s);
    }
    return out;
  }

  Result<std::vector<ClusterRow>> ClusterList() override {
    ASTIS_ASSIGN_OR_RETURN(Json r, transport_("cluster.list", Json::object()));
    auto rows = ListFrom<ClusterRow>(r, ClusterRowFrom);
    if (!rows.ok()) return Malformed(rows.status());
    return rows;
  }

  Status ClusterRemove(const std::string& name) override {
    return Unit(transport_("cluster.remove", Json{{"name", name}}));
  }

  Result<store::Workload> WorkloadAdd(const store::Workload& w) override {
    ASTIS_ASSIGN_OR_RETURN(Json r, transport_("workload.add", WorkloadJson(w)));
    auto out = WorkloadFrom(r);
    if (!out.ok()) return Malformed(out.status());
    return out;
  }

  Result<std::vector<store::Workload>> WorkloadList(const std::string& cluster) override {
    ASTIS_ASSIGN_OR_RETURN(Json r, transport_("workload.list", Json{{"cluster", cluster}}));
    auto rows = ListFrom<store::Workload>(r, WorkloadFrom);
    if (!rows.ok()) return Malformed(rows.status());
    return rows;
  }

  Status WorkloadRemove(const WorkloadKey& k) override {
    return Unit(transport_("workload.remove", WorkloadKeyJson(k)));
  }

  Result<store::Workload> WorkloadImages(const WorkloadImagesArgs& a) override {
    Json args = WorkloadKeyJson(a.key);
    args["add"] = a.add;
    args["remove"] = a.remove;
    ASTIS_ASSIGN_OR_RETURN(Json r, transport_("workload.images", args));
    auto out = WorkloadFrom(r);
    if (!out.ok()) return Malformed(out.status());
    return out;
  }

  Result<std::vector<ApplyChange>> Apply(const ApplyArgs& a) override {
    Json clusters = Json::array();
    for (const auto& c : a.clusters) clusters.push_back(ClusterArgsJson(c));
    Json workloads = Json::array();
    for (const auto& w : a.workloads) workloads.push_back(WorkloadJson(w));
    ASTIS_ASSIGN_OR_RETURN(Json r, transport_("apply", Json{{"clusters", std::move(clusters)},
                                                            {"workloads", std::move(workloads)},
                                                            {"prune", a.prune},
                                                            {"dry_run", a.dry_run}}));
    auto rows = ListFrom<ApplyChange>(r, ApplyChangeFrom);
    if (!rows.ok()) return Malformed(rows.status());
    return rows;
  }

  Result<ApiKeyCreated> ApiKeyCreate(const ApiKeyCreateArgs& a) override {
    ASTIS_ASSIGN_OR_RETURN(Json r, transport_("apikey.create", Json{{"cluster", a.cluster},
                                                                    {"namespace", a.namespace_},
                                                                    {"service_account", a.service_account},
                                                                    {"ttl_seconds", a.ttl_seconds}}));
    ApiKeyCreated out;
    std::string key;
    Status s = JsonReader(r, "result")
                   .Str("id", out.id)
                   .Str("cluster", out.cluster)
                   .Str("namespace", out.namespace_)
                   .Str("service_account", out.service_account)
                   .Int("expires_at", out.expires_at)
                   .Str("key", key)
                   .Done();
    out.key = SecretBytes::CopyFrom(key);
    SecureWipe(key.data(), key.size());
    if (auto it = r.find("key"); it != r.end() && it->is_string()) {
      auto& text = it->get_ref<std::string&>();
      SecureWipe(text.data(), text.size());
    }
    if (!s.ok()) return Malformed(s);
    return out;
  }

  Result<std::vector<ApiKeyRow>> ApiKeyList() override {
    ASTIS_ASSIGN_OR_RETURN(Json r, transport_("apikey.list", Json::object()));
    auto rows = ListFrom<ApiKeyRow>(r, ApiKeyRowFrom);
    if (!rows.ok()) return Malformed(rows.status());
    return rows;
  }

  Status ApiKeyRevoke(const std::string& id) override { return Unit(transport_("apikey.revoke", Json{{"id", id}})); }

  Result<std::vector<SessionRow>> SessionList(const SessionListArgs& a) override {
    ASTIS_ASSIGN_OR_RETURN(Json r,
                           transport_("session.list", Json{{"cluster", a.cluster}, {"namespace", a.namespace_}}));
    auto rows = ListFrom<SessionRow>(r, SessionRowFrom);
    if (!rows.ok()) return Malformed(rows.status());
    return rows;
  }

  Result<int64_t> SessionRevoke(const SessionRevokeArgs& a) override {
    ASTIS_ASSIGN_OR_RETURN(Json r, transport_("session.revoke",
                                              Json{{"id", a.id}, {"pod_uid", a.pod_uid}, {"cluster", a.cluster}}));
    int64_t revoked = 0;
    if (Status s = JsonReader(r, "result").Int("revoked", revoked).Done(); !s.ok()) return Malformed(s);
    return revoked;
  }

 private:
  static Status Unit(const Result<Json>& r) {
    if (!r.ok()) return r.status();
    if (Status s = NoArgs(*r); !s.ok()) return Malformed(s);
    return OkStatus();
  }

  Transport transport_;
};

}  // namespace

bool IsKnownOp(std::string_view op) {
  for (std::string_view known : kOps) {
    if (op == known) return true;
  }
  return false;
}

Result<AdminRequest> DecodeRequest(std::string_view line, size_t max_line) {
  auto request = ParseJsonObject(line, JsonLimits{max_line, 16});
  if (!request.ok()) return Error(Code::kInvalidArgument, "malformed request: " + request.status().message());
  int64_t version = 0;
  AdminRequest out;
  const Json* args = nullptr;
  if (Status s = JsonReader(*request, "request")
                     .Int("v", version)
                     .Str("op", out.op)
                     .Object("args", args)
                     .Str("org", out.org, /*required=*/false)
                     .Done();
      !s.ok()) {
    return Error(Code::kInvalidArgument, "malformed request: " + s.message());
  }
  if (version != kProtocolVersion) return Error(Code::kInvalidArgument, "unsupported version");
  if (!IsKnownOp(out.op)) return Error(Code::kInvalidArgument, "unknown op");
  out.args = *args;
  return out;
}

Result<Json> Dispatch(Operations& ops, std::string_view op, const Json& args) {
  if (op == "org.add") {
    OrgAddArgs a;
    ASTIS_RETURN_IF_ERROR(JsonReader(args, "args")
                              .Str("name", a.name)
                              .Str("tier", a.tier)
                              .Str("cvs_url", a.cvs_url)
                              .Str("cvs_ca_pem", a.cvs_ca_pem)
                              .Str("cvs_identity", a.cvs_identity)
                              .Str("cvs_spki_sha256", a.cvs_spki_sha256)
                              .Done());
    ASTIS_ASSIGN_OR_RETURN(OrgAdded r, ops.OrgAdd(a));
    return Json{{"org", OrgRowJson(r.org)}, {"updated", r.updated}};
  }
  if (op == "org.list") {
    ASTIS_RETURN_IF_ERROR(NoArgs(args));
    ASTIS_ASSIGN_OR_RETURN(std::vector<OrgRow> rows, ops.OrgList());
    return ListJson<OrgRow>(rows, OrgRowJson);
  }
  if (op == "org.remove") {
    std::string name;
    bool force = false;
    ASTIS_RETURN_IF_ERROR(JsonReader(args, "args").Str("name", name).Bool("force", force).Done());
    ASTIS_RETURN_IF_ERROR(ops.OrgRemove(name, force));
    return Json::object();
  }
  if (op == "org.key.list") {
    ASTIS_RETURN_IF_ERROR(NoArgs(args));
    ASTIS_ASSIGN_OR_RETURN(std::vector<OrgKeyRow> rows, ops.OrgKeyList());
    return ListJson<OrgKeyRow>(rows, OrgKeyRowJson);
  }
  if (op == "workload.images") {
    WorkloadImagesArgs a;
    ASTIS_RETURN_IF_ERROR(JsonReader(args, "args")
                              .Str("cluster", a.key.cluster)
                              .Str("namespace", a.key.namespace_)
                              .Str("service_account", a.key.service_account)
                              .Strs("add", a.add)
                              .Strs("remove", a.remove)
                              .Done());
    ASTIS_ASSIGN_OR_RETURN(store::Workload r, ops.WorkloadImages(a));
    return WorkloadJson(r);
  }
  if (op == "apply") {
    ApplyArgs a;
    const Json* clusters = nullptr;
    const Json* workloads = nullptr;
    ASTIS_RETURN_IF_ERROR(JsonReader(args, "args")
                              .Array("clusters", clusters)
                              .Array("workloads", workloads)
                              .Bool("prune", a.prune)
                              .Bool("dry_run", a.dry_run)
                              .Done());
    for (const Json& c : *clusters) {
      ASTIS_ASSIGN_OR_RETURN(ClusterAddArgs ca, ClusterArgsFrom(c));
      a.clusters.push_back(std::move(ca));
    }
    for (const Json& w : *workloads) {
      ASTIS_ASSIGN_OR_RETURN(store::Workload sw, WorkloadFrom(w));
      a.workloads.push_back(std::move(sw));
    }
    ASTIS_ASSIGN_OR_RETURN(std::vector<ApplyChange> rows, ops.Apply(a));
    return ListJson<ApplyChange>(rows, ApplyChangeJson);
  }
  if (op == "cluster.add") {
    ASTIS_ASSIGN_OR_RETURN(ClusterAddArgs a, ClusterArgsFrom(args));
    ASTIS_ASSIGN_OR_RETURN(ClusterAdded r, ops.ClusterAdd(a));
    return Json{{"name", r.name}, {"mode", r.mode}};
  }
  if (op == "cluster.list") {
    ASTIS_RETURN_IF_ERROR(NoArgs(args));
    ASTIS_ASSIGN_OR_RETURN(std::vector<ClusterRow> rows, ops.ClusterList());
    return ListJson<ClusterRow>(rows, ClusterRowJson);
  }
  if (op == "cluster.remove") {
    std::string name;
    ASTIS_RETURN_IF_ERROR(JsonReader(args, "args").Str("name", name).Done());
    ASTIS_RETURN_IF_ERROR(ops.ClusterRemove(name));
    return Json::object();
  }
  if (op == "workload.add") {
    ASTIS_ASSIGN_OR_RETURN(store::Workload w, WorkloadFrom(args));
    ASTIS_ASSIGN_OR_RETURN(store::Workload r, ops.WorkloadAdd(w));
    return WorkloadJson(r);
  }
  if (op == "workload.list") {
    std::string cluster;
    ASTIS_RETURN_IF_ERROR(JsonReader(args, "args").Str("cluster", cluster, /*required=*/false).Done());
    ASTIS_ASSIGN_OR_RETURN(std::vector<store::Workload> rows, ops.WorkloadList(cluster));
    return ListJson<store::Workload>(rows, WorkloadJson);
  }
  if (op == "workload.remove") {
    ASTIS_ASSIGN_OR_RETURN(WorkloadKey k, WorkloadKeyFrom(args));
    ASTIS_RETURN_IF_ERROR(ops.WorkloadRemove(k));
    return Json::object();
  }
  if (op == "apikey.create") {
    ApiKeyCreateArgs a;
    ASTIS_RETURN_IF_ERROR(JsonReader(args, "args")
                              .Str("cluster", a.cluster)
                              .Str("namespace", a.namespace_)
                              .Str("service_account", a.service_account)
                              .Int("ttl_seconds", a.ttl_seconds)
                              .Done());
    ASTIS_ASSIGN_OR_RETURN(ApiKeyCreated r, ops.ApiKeyCreate(a));
    return Json{{"id", r.id},
                {"cluster", r.cluster},
                {"namespace", r.namespace_},
                {"service_account", r.service_account},
                {"expires_at", r.expires_at},
                {"key", r.key.RevealString()}};
  }
  if (op == "apikey.list") {
    ASTIS_RETURN_IF_ERROR(NoArgs(args));
    ASTIS_ASSIGN_OR_RETURN(std::vector<ApiKeyRow> rows, ops.ApiKeyList());
    return ListJson<ApiKeyRow>(rows, ApiKeyRowJson);
  }
  if (op == "apikey.revoke") {
    std::string id;
    ASTIS_RETURN_IF_ERROR(JsonReader(args, "args").Str("id", id).Done());
    ASTIS_RETURN_IF_ERROR(ops.ApiKeyRevoke(id));
    return Json::object();
  }
  if (op == "session.list") {
    SessionListArgs a;
    ASTIS_RETURN_IF_ERROR(JsonReader(args, "args")
                              .Str("cluster", a.cluster, /*required=*/false)
                              .Str("namespace", a.namespace_, /*required=*/false)
                              .Done());
    ASTIS_ASSIGN_OR_RETURN(std::vector<SessionRow> rows, ops.SessionList(a));
    return ListJson<SessionRow>(rows, SessionRowJson);
  }
  if (op == "session.revoke") {
    SessionRevokeArgs a;
    ASTIS_RETURN_IF_ERROR(JsonReader(args, "args")
                              .Str("id", a.id, /*required=*/false)
                              .Str("pod_uid", a.pod_uid, /*required=*/false)
                              .Str("cluster", a.cluster, /*required=*/false)
                              .Done());
    ASTIS_ASSIGN_OR_RETURN(int64_t revoked, ops.SessionRevoke(a));
    return Json{{"revoked", revoked}};
  }
  // Test AdminDispatchTest.RejectsUnknownOp, AdminServerTest.RejectsUnknownOp.
  return Error(Code::kInvalidArgument, "unknown op");
}

std::unique_ptr<Operations> MakeRemoteOperations(Transport transport) {
  return std::make_unique<RemoteOperations>(std::move(transport));
}

Json StatusToJson(const Status& status) {
  return Json{{"code", std::string(WireName(status.code()))}, {"message", status.message()}};
}

Status StatusFromJson(const Json& error) {
  std::string code, message;
  if (Status s = JsonReader(error, "error").Str("code", code).Str("message", message).Done(); !s.ok()) {
    return Malformed(s);
  }
  for (int c = static_cast<int>(Code::kBadRequest); c <= static_cast<int>(Code::kInternal); ++c) {
    if (WireName(static_cast<Code>(c)) == code) return Error(static_cast<Code>(c), message);
  }
  return Error(Code::kInternal, message);
}

}  // namespace astis::admin::internal
