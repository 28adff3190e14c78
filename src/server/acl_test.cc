#include "server/acl.h"
#include "server/acl_users.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace cairn::server::acl {
namespace {

User Make(const std::vector<std::string>& ops) {
  User u("u");
  for (const auto& op : ops) EXPECT_EQ(u.Apply(op), "") << op;
  return u;
}

Verdict Check(const User& u, const std::vector<std::string_view>& args, int* idx = nullptr) {
  int i = 0;
  const Verdict v = u.Check(CommandId(args), args, &i);
  if (idx != nullptr) *idx = i;
  return v;
}

TEST(AclRulesTest, NewUserDescribesAsRedis) {
  User u("bob");
  EXPECT_EQ(u.Describe(), "user bob off resetchannels -@all");
  EXPECT_EQ(u.Apply("on"), "");
  EXPECT_EQ(u.Apply(">pw"), "");
  EXPECT_EQ(u.Describe(),
            "user bob on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 "
            "resetchannels -@all");
}

TEST(AclRulesTest, ErrorsAreRedisReasons) {
  User u("u");
  EXPECT_EQ(u.Apply("foo"), "Syntax error");
  EXPECT_EQ(u.Apply("+nosuch"), "Unknown command or category name in ACL");
  EXPECT_EQ(u.Apply("+@nosuch"), "Unknown command or category name in ACL");
  EXPECT_EQ(u.Apply("-select|0"), "Unknown command or category name in ACL");
  EXPECT_EQ(u.Apply("+config|get|x"), "Allowing first-arg of a subcommand is not supported");
  EXPECT_EQ(u.Apply("%X~a"), "Syntax error");
  EXPECT_EQ(u.Apply("#abc"),
            "The password hash must be exactly 64 characters and contain only lowercase "
            "hexadecimal characters");
  EXPECT_EQ(u.Apply("<nopw"), "The password you are trying to remove from the user does not exist");
  EXPECT_EQ(u.Apply("(on)"), "Syntax error");
  EXPECT_EQ(u.Apply("allkeys"), "");
  EXPECT_NE(u.Apply("~x").find("Adding a pattern after the * pattern (or the 'allkeys' flag)"),
            std::string::npos);
  EXPECT_EQ(u.Apply("&*"), "");
  EXPECT_NE(u.Apply("&x").find("(or the 'allchannels' flag)"), std::string::npos);
}

TEST(AclRulesTest, MergeSelectorArgs) {
  std::vector<std::string> out;
  std::string error;
  ASSERT_TRUE(MergeSelectorArgs({"on", "(~a", "+get)", "(+set)"}, &out, &error));
  EXPECT_EQ(out, (std::vector<std::string>{"on", "(~a +get)", "(+set)"}));
  out.clear();
  EXPECT_FALSE(MergeSelectorArgs({"(~x", "+get"}, &out, &error));
  EXPECT_EQ(error, "Unmatched parenthesis in acl selector starting at '(~x'.");
}

TEST(AclRulesTest, CommandsCategoriesSubcommandsAndFirstArgs) {
  const User u = Make({"on", "allkeys", "+@hash", "-hset", "+config|get", "+select|0"});
  EXPECT_EQ(Check(u, {"hget", "h", "f"}), Verdict::kOk);
  EXPECT_EQ(Check(u, {"hset", "h", "f", "v"}), Verdict::kCommand);
  EXPECT_EQ(Check(u, {"config", "get", "x"}), Verdict::kOk);
  EXPECT_EQ(Check(u, {"config", "set", "x", "y"}), Verdict::kCommand);
  EXPECT_EQ(Check(u, {"select", "0"}), Verdict::kOk);
  EXPECT_EQ(Check(u, {"select", "1"}), Verdict::kCommand);
  EXPECT_EQ(Check(u, {"auth", "x"}), Verdict::kOk);  // no_auth commands need no right
  EXPECT_EQ(u.root.CommandsText(), "-@all +@hash +config|get -hset +select|0");
}

TEST(AclRulesTest, AllCommandsMinusDescribesFromAll) {
  const User u = Make({"+@all", "-@dangerous", "+info"});
  EXPECT_EQ(u.root.CommandsText().substr(0, 15), "+@all -@admin -");
  EXPECT_EQ(Check(u, {"flushall"}), Verdict::kCommand);
  EXPECT_EQ(Check(u, {"info"}), Verdict::kOk);
}

TEST(AclKeysTest, ReadWritePatternsFollowKeySpecs) {
  const User u = Make({"+@all", "%R~r*", "%W~w*", "~rw*"});
  int idx = 0;
  EXPECT_EQ(Check(u, {"get", "r1"}), Verdict::kOk);
  EXPECT_EQ(Check(u, {"set", "r1", "v"}), Verdict::kKey);
  EXPECT_EQ(Check(u, {"set", "w1", "v"}), Verdict::kOk);
  EXPECT_EQ(Check(u, {"get", "w1"}), Verdict::kKey);
  EXPECT_EQ(Check(u, {"copy", "r1", "w1"}), Verdict::kOk);  // source read, destination write
  EXPECT_EQ(Check(u, {"copy", "w1", "r1"}, &idx), Verdict::kKey);
  EXPECT_EQ(idx, 1);
  EXPECT_EQ(Check(u, {"mset", "w1", "v", "x", "v"}, &idx), Verdict::kKey);
  EXPECT_EQ(idx, 3);
  EXPECT_EQ(Check(u, {"zunionstore", "w", "2", "r1", "rw2"}), Verdict::kOk);
  EXPECT_EQ(Check(u, {"zunionstore", "w", "2", "r1", "zz"}), Verdict::kKey);
  EXPECT_EQ(Check(u, {"xread", "streams", "r1", "q", "0", "0"}), Verdict::kKey);
  EXPECT_EQ(Check(u, {"xread", "count", "1", "streams", "r1", "rw", "0", "0"}), Verdict::kOk);
  EXPECT_EQ(Check(u, {"sort", "r1", "store", "r2"}), Verdict::kKey);
  EXPECT_EQ(Check(u, {"sort", "r1", "store", "w2"}), Verdict::kOk);
  EXPECT_EQ(Check(u, {"eval", "return 1", "1", "x"}), Verdict::kKey);
  // MIGRATE: AUTH takes one argument, AUTH2 two, bounds-checked (ASan saw a read past the end).
  EXPECT_EQ(Check(u, {"migrate", "h", "1", "rw1", "0", "5", "auth"}), Verdict::kOk);
  EXPECT_EQ(Check(u, {"migrate", "h", "1", "rw1", "0", "5", "auth2", "x"}), Verdict::kOk);
  EXPECT_EQ(Check(u, {"migrate", "h", "1", "", "0", "5", "auth", "auth2", "keys", "secret"}, &idx),
            Verdict::kKey);
  EXPECT_EQ(idx, 9);
  // GEORADIUS stores into the last STORE/STOREDIST: every one is checked.
  EXPECT_EQ(Check(u, {"georadius", "r1", "13", "38", "500", "km", "store", "w1"}), Verdict::kOk);
  EXPECT_EQ(Check(u, {"georadius", "r1", "13", "38", "500", "km", "store", "w1", "store", "r2"},
                  &idx),
            Verdict::kKey);
  EXPECT_EQ(idx, 9);
  EXPECT_EQ(Check(u, {"georadius", "r1", "13", "38", "500", "km", "storedist", "w1", "storedist",
                      "secret"}),
            Verdict::kKey);
  EXPECT_EQ(Check(u, {"georadiusbymember", "r1", "m", "500", "km", "store", "w1", "storedist",
                      "secret"}),
            Verdict::kKey);
  EXPECT_FALSE(u.FullKeyRead(CommandId({"sort", "r1"}), {"sort", "r1"}));
  const User all = Make({"+@all", "%R~*", "~w*"});
  EXPECT_TRUE(all.FullKeyRead(CommandId({"sort", "w1"}), {"sort", "w1"}));
  EXPECT_EQ(all.root.KeysText(), "%R~* ~w*");
}

// Repeated patterns merge (their permissions add up); adding many patterns is not quadratic
// (100000 took tens of seconds with a linear search per pattern).
TEST(AclKeysTest, ManyPatternsAddedInLinearTime) {
  User u("u");
  EXPECT_EQ(u.Apply("%R~a"), "");
  EXPECT_EQ(u.Apply("%W~a"), "");
  EXPECT_EQ(u.Apply("&c"), "");
  EXPECT_EQ(u.Apply("&c"), "");
  EXPECT_EQ(u.root.KeysText(), "~a");
  EXPECT_EQ(u.root.ChannelsText(), "&c");
  EXPECT_EQ(u.Apply("resetkeys"), "");
  EXPECT_EQ(u.Apply("%R~a"), "");
  EXPECT_EQ(u.root.KeysText(), "%R~a");
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 100000; i++) {
    ASSERT_EQ(u.Apply("~key:" + std::to_string(i)), "");
    ASSERT_EQ(u.Apply("&ch:" + std::to_string(i)), "");
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(u.Apply("%W~key:7"), "");  // a repeat: merged, not added
  EXPECT_EQ(u.root.KeysText().find("~key:7 ~key:8 "), u.root.KeysText().find("~key:7 "));
  EXPECT_NE(u.root.KeysText().find("~key:7 ~key:8 "), std::string::npos);
  EXPECT_EQ(u.root.channels().size(), 100001u);
}

TEST(AclChannelsTest, LiteralPatternsAndGlobs) {
  const User u = Make({"+@all", "&news.*", "&a"});
  int idx = 0;
  EXPECT_EQ(Check(u, {"publish", "news.x", "m"}), Verdict::kOk);
  EXPECT_EQ(Check(u, {"publish", "other", "m"}), Verdict::kChannel);
  EXPECT_EQ(Check(u, {"subscribe", "a", "news.1", "b"}, &idx), Verdict::kChannel);
  EXPECT_EQ(idx, 3);
  // PSUBSCRIBE's patterns must be listed literally.
  EXPECT_EQ(Check(u, {"psubscribe", "news.*"}), Verdict::kOk);
  EXPECT_EQ(Check(u, {"psubscribe", "news.1*"}), Verdict::kChannel);
  EXPECT_EQ(u.root.ChannelsText(), "&news.* &a");
}

TEST(AclSelectorsTest, AnySelectorMayAllow) {
  const User u = Make({"on", "~a*", "+get", "(~b* +set)"});
  EXPECT_EQ(Check(u, {"get", "a1"}), Verdict::kOk);
  EXPECT_EQ(Check(u, {"set", "b1", "v"}), Verdict::kOk);
  EXPECT_EQ(Check(u, {"set", "a1", "v"}), Verdict::kKey);  // the key error beats the command one
  EXPECT_EQ(Check(u, {"del", "a1"}), Verdict::kCommand);
  EXPECT_EQ(u.Describe(), "user u on ~a* resetchannels -@all +get (~b* resetchannels -@all +set)");
  User v = u;
  EXPECT_EQ(v.Apply("clearselectors"), "");
  EXPECT_EQ(Check(v, {"set", "b1", "v"}), Verdict::kCommand);
}

TEST(AclPasswordsTest, HashedAndConstantTimeCompared) {
  User u = Make({">one", ">two"});
  EXPECT_TRUE(u.CheckPassword("one"));
  EXPECT_TRUE(u.CheckPassword("two"));
  EXPECT_FALSE(u.CheckPassword("three"));
  EXPECT_EQ(u.passwords[0], HashPassword("one"));
  EXPECT_EQ(u.Apply("<one"), "");
  EXPECT_FALSE(u.CheckPassword("one"));
  EXPECT_EQ(u.Apply("!" + HashPassword("two")), "");
  EXPECT_FALSE(u.CheckPassword("two"));
  EXPECT_EQ(u.Apply("nopass"), "");
  EXPECT_TRUE(u.CheckPassword("anything"));
  EXPECT_EQ(u.Apply("resetpass"), "");
  EXPECT_FALSE(u.CheckPassword("anything"));
  EXPECT_EQ(u.Apply("reset"), "");
  EXPECT_EQ(u.Describe(), "user u off sanitize-payload resetchannels -@all");
}

TEST(AclUsersTest, ShorthandsAndAllOrNothingSetUser) {
  AclUsers users;
  EXPECT_FALSE(users.auth_required());
  users.ApplyShorthands("pw", {{"alice", "a1"}});
  EXPECT_TRUE(users.auth_required());
  EXPECT_TRUE(users.Find("default")->CheckPassword("pw"));
  EXPECT_FALSE(users.Find("default")->CheckPassword("x"));
  ASSERT_NE(users.Find("alice"), nullptr);
  EXPECT_TRUE(users.Find("alice")->unrestricted);
  EXPECT_EQ(users.Find("alice")->Describe(),
            "user alice on #" + HashPassword("a1") + " ~* &* +@all");
  // users without requirepass: default is off.
  users.ApplyShorthands("", {{"alice", "a1"}});
  EXPECT_FALSE(users.Find("default")->enabled);
  users.ApplyShorthands("", {});
  EXPECT_EQ(users.Find("alice"), nullptr);
  // A change of users never makes default nopass: it stays off until an admin opens it.
  EXPECT_FALSE(users.Find("default")->enabled);
  EXPECT_FALSE(users.Find("default")->nopass);
  users.ApplyShorthands("", {{"alice", "a1"}});
  EXPECT_FALSE(users.Find("default")->enabled);
  users.ApplyShorthands("", {});
  EXPECT_EQ(users.SetUser("default", {"on", "nopass"}), "");
  EXPECT_FALSE(users.auth_required());
  // A failing rule leaves the user as it was (or absent).
  EXPECT_EQ(users.SetUser("bob", {"on", "+get", "+nosuch"}),
            "Error in ACL SETUSER modifier '+nosuch': Unknown command or category name in ACL");
  EXPECT_EQ(users.Find("bob"), nullptr);
  const uint64_t v = users.version();
  EXPECT_EQ(users.SetUser("bob", {"on", "(~a", "+get)"}), "");
  EXPECT_GT(users.version(), v);
  EXPECT_EQ(users.Find("bob")->selectors.size(), 1u);
  EXPECT_EQ(users.SetUser("bob", {"(~a"}),
            "Unmatched parenthesis in acl selector starting at '(~a'.");
  EXPECT_EQ(users.DelUsers({"bob", "default", "nosuch"}), 1);
}

}  // namespace
}  // namespace cairn::server::acl
