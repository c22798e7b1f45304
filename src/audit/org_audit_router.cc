#include "audit/org_audit_router.h"

#include <sys/stat.h>

#include <cerrno>
#include <utility>

#include "common/dns1123.h"

namespace astis::audit {

std::string OrgTrailPath(std::string_view main_path, std::string_view org) {
  return std::string(main_path) + ".orgs/" + std::string(org) + ".jsonl";
}

OrgAuditRouter::OrgAuditRouter(FileAuditLog& main, std::string main_path, Clock& clock, FileAuditOptions options)
    : main_(main), main_path_(std::move(main_path)), clock_(clock), options_(options) {}

Result<FileAuditLog*> OrgAuditRouter::TrailFor(std::string_view org) {
  if (org.empty()) return &main_;
  // The org becomes a file name: only a DNS-1123 label, never a path.
  if (!IsDns1123Label(org)) return Error(Code::kInvalidArgument, "audit: organisation is not a DNS-1123 label");
  std::lock_guard<std::mutex> lock(mu_);
  auto it = trails_.find(org);
  if (it != trails_.end()) return it->second.get();
  // Without a main file (a stream-only log) each organisation's chain goes
  // to the same stream, its lines told apart by "org" (docs/audit-log.md).
  std::string path;
  if (!main_path_.empty()) {
    const std::string dir = main_path_ + ".orgs";
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return Error(Code::kIo, "audit: cannot create " + dir);
    }
    path = OrgTrailPath(main_path_, org);
  }
  ASTIS_ASSIGN_OR_RETURN(std::unique_ptr<FileAuditLog> log, FileAuditLog::Open(path, clock_, options_));
  FileAuditLog* raw = log.get();
  trails_.emplace(std::string(org), std::move(log));
  return raw;
}

Status OrgAuditRouter::Append(const AuditEvent& event) {
  ASTIS_ASSIGN_OR_RETURN(FileAuditLog * log, TrailFor(event.org));
  return log->Append(event);
}

void OrgAuditRouter::AppendThen(const AuditEvent& event, std::function<void(Status)> durable) {
  Result<FileAuditLog*> log = TrailFor(event.org);
  if (!log.ok()) return durable(log.status());
  (*log)->AppendThen(event, std::move(durable));
}

std::optional<AuditStats> OrgAuditRouter::Stats() const {
  AuditStats total{main_.lines(), main_.syncs()};
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [org, log] : trails_) {
    total.lines += log->lines();
    total.syncs += log->syncs();
  }
  return total;
}

Status OrgAuditRouter::AppendDeferringSync(const AuditEvent& event) {
  ASTIS_ASSIGN_OR_RETURN(FileAuditLog * log, TrailFor(event.org));
  return log->AppendDeferringSync(event);
}

}  // namespace astis::audit
