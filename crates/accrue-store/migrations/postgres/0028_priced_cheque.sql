-- The fingerprint of the cheque a till sent with an operation that priced it: the same
-- cheque sent again (by Payment, Bonus or Confirm) keeps that pricing.
ALTER TABLE purchase_operations ADD COLUMN cheque TEXT;
