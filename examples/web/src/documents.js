// The app's GraphQL documents. Each selects `id` on Customer (Apollo's cache merges on it);
// nothing else is needed for an edit to show everywhere the customer is shown.
import { gql } from '@apollo/client';

export const SIGN_UP = gql`
  mutation SignUp($input: CreateCustomerInput!) {
    createCustomer(input: $input) { customer { id customerId name email } }
  }
`;

const SESSION_FIELDS = 'token expiresAt refreshToken refreshExpiresAt customerId';

export const LOG_IN = gql`
  mutation LogIn($email: String!, $password: String!) {
    authenticateCustomer(email: $email, password: $password) { ${SESSION_FIELDS} }
  }
`;

export const REFRESH = gql`
  mutation Refresh($refreshToken: String!) {
    refreshSession(refreshToken: $refreshToken) { ${SESSION_FIELDS} }
  }
`;

export const LOG_OUT = gql`
  mutation LogOut { logout { success } }
`;

export const ME = gql`
  query Me { me { id customerId name email phone emailVerified updatedAt } }
`;

export const UPDATE_PHONE = gql`
  mutation UpdatePhone($input: UpdateCustomerInput!) {
    updateCustomer(input: $input) { customer { id phone updatedAt } }
  }
`;

export const CUSTOMERS = gql`
  query Customers($first: Int!, $after: String) {
    customers(first: $first, after: $after) {
      edges { node { id name email } }
      pageInfo { hasNextPage endCursor }
    }
  }
`;

// Changes to the signed-in customer, made anywhere (another tab, a support tool): Apollo
// writes each into its cache, so `me` shows them.
export const MY_CHANGES = gql`
  subscription MyChanges($id: ID!) {
    customerChanged(customerId: $id) { kind at customer { id customerId name email phone updatedAt } }
  }
`;
