// OrgAuditRouter: one audit trail per organisation (docs/tenancy.md "Audit
// trails", docs/audit-log.md "Organisations").
//
// The edge and the embedded CVS append every decision to one AuditSink.
// With several organisations, each organisation's decisions go to its own
// hash-chained file, so an organisation's trail holds none of another's
// lines and verifies on its own (`astis audit verify --org`):
//
//   event.org empty (organisation "default", service-wide events) -> main log
//   event.org = ORG                                                -> OrgTrailPath(main path, ORG)
//
// The per-organisation files are FileAuditLogs with the main log's options,
// opened on first use (directory 0700, files 0600), rotating like it. With
// an empty main path (a stream-only log, FileAuditOptions::stream_fd) each
// organisation's chain is a stream-only log on the same stream. A deferred append (the
// embedded CVS's rewrap line, FileAuditLog::AppendDeferringSync) is deferred
// in the file it lands in, and the edge's own line for the same request
// carries the same org, so it lands in the same file and makes it durable.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "audit/audit_log.h"
#include "common/clock.h"
#include "common/status.h"

namespace astis::audit {

// OrgTrailPath is the file of org's trail beside the main log at main_path:
// main_path + ".orgs/" + org + ".jsonl". org must be a DNS-1123 label (the
// caller checks; OrgAuditRouter refuses anything else).
std::string OrgTrailPath(std::string_view main_path, std::string_view org);

// OrgAuditRouter routes events by organisation. Thread-safe. main must
// outlive it.
class OrgAuditRouter final : public AuditSink {
 public:
  OrgAuditRouter(FileAuditLog& main, std::string main_path, Clock& clock, FileAuditOptions options);
  // This one opens the organisations' trails with main's options (rotation,
  // stream, torn-tail repair).
  OrgAuditRouter(FileAuditLog& main, std::string main_path, Clock& clock)
      : OrgAuditRouter(main, std::move(main_path), clock, main.options()) {}

  // Append writes event to its organisation's trail (see the file comment).
  // Errors: kInvalidArgument for an org that is not a DNS-1123 label
  // (nothing is written: an event must not land in a file its org does not
  // name; test OrgAuditRouterTest.RefusesOrgThatIsNotALabel); kIo when the
  // organisation's trail cannot be opened or written.
  Status Append(const AuditEvent& event) override;
  // AppendThen is Append with FileAuditLog::AppendThen (durable runs on
  // the organisation's trail's sync thread); an org that is not a label or a
  // trail that cannot be opened calls durable at once with the error.
  void AppendThen(const AuditEvent& event, std::function<void(Status)> durable) override;
  // AppendDeferringSync is Append with FileAuditLog::AppendDeferringSync.
  Status AppendDeferringSync(const AuditEvent& event);
  // Stats sums the main log's and every open trail's counters.
  std::optional<AuditStats> Stats() const override;

 private:
  Result<FileAuditLog*> TrailFor(std::string_view org);

  FileAuditLog& main_;
  std::string main_path_;
  Clock& clock_;
  FileAuditOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<FileAuditLog>, std::less<>> trails_;
};

// DeferSyncRouterSink is an AuditSink whose Append is the router's
// AppendDeferringSync (the embedded CVS's sink). It borrows the router.
class DeferSyncRouterSink final : public AuditSink {
 public:
  explicit DeferSyncRouterSink(OrgAuditRouter& router) : router_(router) {}
  Status Append(const AuditEvent& event) override { return router_.AppendDeferringSync(event); }

 private:
  OrgAuditRouter& router_;
};

}  // namespace astis::audit
