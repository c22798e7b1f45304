#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "hsm/pkcs11.h"

namespace astis::hsm {
namespace {

void ExpectRefused(std::string_view uri, std::string_view attribute) {
  auto r = Pkcs11Uri::Parse(uri);
  ASSERT_FALSE(r.ok()) << uri;
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << uri;
  EXPECT_NE(r.status().message().find(std::string(attribute) + ":"), std::string::npos)
      << uri << " -> " << r.status().message();
}

TEST(Pkcs11UriTest, ParsesTokenObjectAndId) {
  auto r = Pkcs11Uri::Parse("pkcs11:token=astis-org;object=org-key-2026;id=%01%02%ff");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->token, "astis-org");
  EXPECT_EQ(r->object, "org-key-2026");
  EXPECT_EQ(r->id, (std::vector<uint8_t>{0x01, 0x02, 0xff}));
  auto only_id = Pkcs11Uri::Parse("pkcs11:token=t;id=%41");
  ASSERT_TRUE(only_id.ok());
  EXPECT_TRUE(only_id->object.empty());
  EXPECT_EQ(only_id->id, std::vector<uint8_t>{'A'});
}

TEST(Pkcs11UriTest, ParsesTokenNarrowingAttributesAndType) {
  auto r = Pkcs11Uri::Parse(
      "pkcs11:model=SoftHSM%20v2;manufacturer=SoftHSM%20project;serial=0123abcd;token=My%20HSM;object=k;type=private");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->model, "SoftHSM v2");
  EXPECT_EQ(r->manufacturer, "SoftHSM project");
  EXPECT_EQ(r->serial, "0123abcd");
  EXPECT_EQ(r->token, "My HSM");
  EXPECT_EQ(r->type, "private");
}

TEST(Pkcs11UriTest, PercentDecodingAndSchemeCase) {
  auto r = Pkcs11Uri::Parse("PKCS11:token=a%3Bb%3fc;object=x:y@z(1)&w");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->token, "a;b?c");
  EXPECT_EQ(r->object, "x:y@z(1)&w");
}

TEST(Pkcs11UriTest, ToStringRoundTrips) {
  Pkcs11Uri u;
  u.token = "org token;1";
  u.object = "key/2026 é";
  u.id = {0x00, 0x7f, 0xff};
  u.serial = "abc";
  const std::string text = u.ToString();
  EXPECT_EQ(text.rfind("pkcs11:serial=abc;token=org%20token%3B1;object=key%2F2026%20%C3%A9;id=%00%7F%FF", 0), 0u)
      << text;
  auto back = Pkcs11Uri::Parse(text);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->token, u.token);
  EXPECT_EQ(back->object, u.object);
  EXPECT_EQ(back->id, u.id);
  EXPECT_EQ(back->serial, u.serial);
}

TEST(Pkcs11UriTest, RefusesEmpty) {
  ExpectRefused("", "uri");
  ExpectRefused("pkcs11:", "token");
  ExpectRefused("pkcs11:token=a;;object=b", "uri");
  ExpectRefused("pkcs11:token=a;object=b;", "uri");
  ExpectRefused("pkcs11:token=;object=b", "token");
  ExpectRefused("pkcs11:token=a;object=", "object");
  ExpectRefused("pkcs11:token=a;id=", "id");
}

TEST(Pkcs11UriTest, RefusesWrongScheme) {
  ExpectRefused("pkcs12:token=a;object=b", "uri");
  ExpectRefused("token=a;object=b", "uri");
  ExpectRefused("pkcs11", "uri");
}

TEST(Pkcs11UriTest, RefusesMissingTokenOrObject) {
  ExpectRefused("pkcs11:object=b", "token");
  ExpectRefused("pkcs11:token=a", "object");
  ExpectRefused("pkcs11:token=a;serial=1", "object");
}

TEST(Pkcs11UriTest, RefusesUnknownAttribute) {
  ExpectRefused("pkcs11:token=a;object=b;slot-id=1", "slot-id");
  ExpectRefused("pkcs11:token=a;object=b;library-manufacturer=x", "library-manufacturer");
  ExpectRefused("pkcs11:token=a;object=b;x-vendor=1", "x-vendor");
  ExpectRefused("pkcs11:token=a;Object=b", "Object");
  ExpectRefused("pkcs11:token=a;object=b;=c", "uri");
  ExpectRefused("pkcs11:token=a;object", "uri");
}

TEST(Pkcs11UriTest, RefusesDuplicateAttribute) {
  ExpectRefused("pkcs11:token=a;object=b;token=c", "token");
  ExpectRefused("pkcs11:token=a;object=b;object=b", "object");
  ExpectRefused("pkcs11:token=a;id=%01;id=%02", "id");
}

TEST(Pkcs11UriTest, RefusesPinValue) {
  ExpectRefused("pkcs11:token=a;object=b?pin-value=1234", "pin-value");
  auto r = Pkcs11Uri::Parse("pkcs11:token=a;object=b?pin-value=s3cr3t-pin");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().find("s3cr3t"), std::string::npos) << "the PIN must never be echoed";
}

TEST(Pkcs11UriTest, RefusesPinSource) {
  ExpectRefused("pkcs11:token=a;object=b?pin-source=file:/etc/pin", "pin-source");
  ExpectRefused("pkcs11:token=a;object=b?x=1&pin-source=|/bin/sh", "pin-source");
}

TEST(Pkcs11UriTest, RefusesModulePath) {
  ExpectRefused("pkcs11:token=a;object=b?module-path=/tmp/evil.so", "module-path");
  ExpectRefused("pkcs11:token=a;object=b?module-name=evil", "module-name");
  ExpectRefused("pkcs11:token=a;object=b?", "query");
  // A path attribute of that name is unknown, not a way around the refusal.
  ExpectRefused("pkcs11:token=a;object=b;module-path=/tmp/evil.so", "module-path");
}

TEST(Pkcs11UriTest, RefusesBadPercentEscapes) {
  ExpectRefused("pkcs11:token=a%;object=b", "token");
  ExpectRefused("pkcs11:token=a%4;object=b", "token");
  ExpectRefused("pkcs11:token=a%zz;object=b", "token");
  ExpectRefused("pkcs11:token=a;object=b%g0", "object");
  ExpectRefused("pkcs11:token=a;id=%0", "id");
  // Characters outside RFC 7512 pk11-pchar must be percent-encoded.
  ExpectRefused("pkcs11:token=a b;object=c", "token");
  ExpectRefused("pkcs11:token=a;object=b/c", "object");
  ExpectRefused("pkcs11:token=a%00;object=b", "token");
}

TEST(Pkcs11UriTest, RefusesOverlongValuesAndOtherTypes) {
  ExpectRefused("pkcs11:token=" + std::string(33, 't') + ";object=b", "token");
  ExpectRefused("pkcs11:token=a;serial=" + std::string(17, '1') + ";object=b", "serial");
  ExpectRefused("pkcs11:token=a;object=b;type=public", "type");
  ExpectRefused("pkcs11:token=a;object=" + std::string(5000, 'o'), "uri");
}

}  // namespace
}  // namespace astis::hsm
