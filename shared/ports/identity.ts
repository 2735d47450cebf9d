/** Verifies the ticketing platform's identity JWT when a deployment requires one. */
export interface IdentityVerifier {
  /** The user id (`sub`) of a valid identity token; throws InvalidTokenError otherwise. */
  verify(token: string): Promise<string>;
}
